"""fromnoise.training"""
