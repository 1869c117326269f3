"""The learning loop's model: a lead scorer trained on what sales closed, tracked and promoted in MLflow.

Modules, bottom up: spec (feature set and label rule as data), evaluate (metrics), drift (PSI against the
training data), model (the scorer bundle: booster + encoding + reference stats), explain (reasons in
words), score (pandas and Spark scoring), registry (champion loading), train (fit, log, promote).
Importing this package is cheap: MLflow, XGBoost and matplotlib are imported by the modules that use them.
"""
