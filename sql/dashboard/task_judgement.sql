-- One task's judgement in the period ($period, $task_id): status, streak, who is behind.
SELECT status, streak, lagging_units, missing_units
FROM eval_tasks
WHERE period = $period AND task_id = $task_id;
