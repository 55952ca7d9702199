"""fromnoise.sampling"""
