-- Each unit's latest cumulative figure per metric up to the period, from the latest accepted file of
-- each month: the period's own figures, and for the assigned (unit, task, metric) rows the period
-- lacks or left blank, the latest earlier figure of the year (carried forward). Only those rows'
-- earlier months are aggregated. `eval_assigned` (unit, task_id, position) is registered by the caller.
WITH current AS NOT MATERIALIZED (  -- read twice: cheaper than keeping 400k rows
    SELECT p.unit, p.task_id, p.position, p.cumulative_value AS value, p.period AS last_period
    FROM progress_metrics p
    JOIN latest_submissions s USING (submission_id)
    WHERE p.period = $period AND p.cumulative_value IS NOT NULL
), lacking AS (
    SELECT a.unit, a.task_id, a.position
    FROM eval_assigned a
    ANTI JOIN current c USING (unit, task_id, position)
), carried AS (
    SELECT p.unit, p.task_id, p.position,
           arg_max(p.cumulative_value, p.period) AS value,
           max(p.period) AS last_period
    FROM progress_metrics p
    JOIN latest_submissions s USING (submission_id)
    SEMI JOIN lacking l
      ON l.unit = p.unit AND l.task_id = p.task_id AND l.position = p.position
    WHERE p.period >= $first AND p.period < $period AND p.cumulative_value IS NOT NULL
    GROUP BY p.unit, p.task_id, p.position
)
SELECT * FROM current
UNION ALL
SELECT * FROM carried;
