"""Customer value: buy-till-you-die models, their features, back-tests and simulated shops."""
