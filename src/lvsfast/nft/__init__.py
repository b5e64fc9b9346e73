"""lvsfast.nft"""
