"""fromnoise.evaluation"""
