-- The period's lagging and critical tasks in table order, with leaders, lead units and streak.
WITH judged_tasks AS (
    SELECT period, task_id, lead_units, status, streak, lagging_units, missing_units
    FROM eval_tasks
), registered AS (
    SELECT task_id, seq, goal, content, leaders
    FROM tasks
), behind AS (
    SELECT e.task_id, t.seq, t.goal, t.content, t.leaders, e.lead_units, e.status, e.streak,
           e.lagging_units, e.missing_units
    FROM judged_tasks e
    JOIN registered t USING (task_id)
    WHERE e.period = $period AND e.status IN ('lagging', 'critical')
)
SELECT task_id, seq, goal, content, leaders, lead_units, status, streak, lagging_units,
       missing_units
FROM behind
ORDER BY seq;
