-- Each unit's cumulative figure per metric for every period of a year, from its latest files.
WITH figures AS (
    SELECT period, unit, task_id, position, cumulative_value
    FROM latest_figures
)
SELECT period, unit, task_id, position, cumulative_value
FROM figures
WHERE period LIKE $year || '-%';
