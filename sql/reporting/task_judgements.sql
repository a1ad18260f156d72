-- Each task's judgement for the period in table order, with what the briefing shows of it.
WITH judged_tasks AS (
    SELECT period, task_id, lead_units, status, streak, lagging_units, missing_units
    FROM eval_tasks
), registered AS (
    SELECT task_id, seq, goal, content, leaders
    FROM tasks
), of_period AS (
    SELECT e.task_id, t.seq, t.goal, t.content, t.leaders, e.lead_units, e.status, e.streak,
           e.lagging_units, e.missing_units
    FROM judged_tasks e
    JOIN registered t USING (task_id)
    WHERE e.period = $period
)
SELECT task_id, seq, goal, content, leaders, lead_units, status, streak, lagging_units,
       missing_units
FROM of_period
ORDER BY seq;
