"""fromnoise.cli"""
