"""Hyperparameter search with Optuna (the optional extra ``tune``); every trial a real fit."""
