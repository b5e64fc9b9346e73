"""lvsfast.daemon"""
