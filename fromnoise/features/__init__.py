"""fromnoise.features"""
