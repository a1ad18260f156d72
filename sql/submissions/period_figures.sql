-- Each unit's cumulative figure per metric for one period, from its latest accepted file.
WITH figures AS (
    SELECT period, unit, task_id, position, cumulative_value
    FROM latest_figures
)
SELECT unit, task_id, position, cumulative_value
FROM figures
WHERE period = $period;
