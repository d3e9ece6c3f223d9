"""A cell's Optuna study: the cell and its study (cell), one trial as an MLflow run
(objective), the trial loop for one process or many (loop), N worker processes on one machine
(processes), the two stores and retries (services), storages with heartbeats and locks
(storage), and what happens before and after the trials (finalize)."""
