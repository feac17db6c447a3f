"""Recommender layer: interactions, models, segments, evaluation."""
