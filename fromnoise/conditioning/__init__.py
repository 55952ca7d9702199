"""fromnoise.conditioning"""
