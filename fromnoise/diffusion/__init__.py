"""fromnoise.diffusion"""
