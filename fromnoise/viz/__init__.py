"""fromnoise.viz"""
