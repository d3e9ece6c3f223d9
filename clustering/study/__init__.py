"""A cell's Optuna study: the cell and its study (cell), one trial as an MLflow run
(objective), the trial loop for one process or many (loop), storages with heartbeats and locks
(storage), and what happens before and after the trials (finalize)."""
