"""Sweeps: hyper-parameter search over many runs on Optuna (its samplers, pruners and SQLite
storage). A sweep spec is a base spec plus a [sweep] section (config.py); each trial is an
ordinary run directory trained in its own process (trial.py), scheduled by the driver
(driver.py), whose study lives in the sweep directory (sweepdir.py, study.py)."""
