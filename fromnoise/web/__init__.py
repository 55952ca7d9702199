"""fromnoise.web"""
