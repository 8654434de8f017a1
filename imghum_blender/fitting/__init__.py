"""Fitting the model to data (being split; see fit.py)."""
