"""lvsfast.ipvs"""
