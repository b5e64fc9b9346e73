"""lvsfast.config"""
