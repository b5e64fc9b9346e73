"""lvsfast.check"""
