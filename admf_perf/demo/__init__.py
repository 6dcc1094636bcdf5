"""The main job: a moving-average-crossover parameter sweep over a shared cache, run on
RQ workers. ``market`` makes or loads the bars, ``backtest`` is the task the workers
run, ``sweep`` starts what is needed and reports."""
