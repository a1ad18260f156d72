-- Each unit's latest cumulative figure per assigned metric up to the period, carried forward.
-- unit, task_id, position, value, last_period, from the latest accepted file of each month: the
-- period's own figures, and for the assigned (unit, task, metric) rows the period lacks or left
-- blank, the latest earlier figure of the year (carried forward). Only those rows' earlier months
-- are aggregated. `eval_assigned` (unit, task_id, position) is registered by the caller.
WITH figures AS NOT MATERIALIZED (  -- read twice for different months: each reads only its own
    SELECT period, unit, task_id, position, cumulative_value
    FROM latest_figures
), assigned AS (
    SELECT unit, task_id, position
    FROM eval_assigned
), current AS NOT MATERIALIZED (  -- read twice: cheaper than keeping 400k rows
    SELECT unit, task_id, position, cumulative_value AS value, period AS last_period
    FROM figures
    WHERE period = $period
), lacking AS (
    SELECT a.unit, a.task_id, a.position
    FROM assigned a
    ANTI JOIN current c USING (unit, task_id, position)
), earlier AS (
    SELECT f.unit, f.task_id, f.position, f.cumulative_value, f.period
    FROM figures f
    SEMI JOIN lacking l
      ON l.unit = f.unit AND l.task_id = f.task_id AND l.position = f.position
    WHERE f.period >= $first AND f.period < $period
), carried AS (
    SELECT unit, task_id, position,
           arg_max(cumulative_value, period) AS value,
           max(period) AS last_period
    FROM earlier
    GROUP BY unit, task_id, position
)
SELECT unit, task_id, position, value, last_period FROM current
UNION ALL
SELECT unit, task_id, position, value, last_period FROM carried;
