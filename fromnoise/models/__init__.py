"""fromnoise.models"""
