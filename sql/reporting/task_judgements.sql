-- Each task's judgement for the period in table order, with what the briefing shows of it (and the
-- evidence, 佐证材料, the units attached to it through the portal for the period).
WITH judged_tasks AS (
    SELECT period, task_id, lead_units, status, streak, lagging_units, missing_units
    FROM eval_tasks
), registered AS (
    SELECT task_id, seq, goal, content, leaders
    FROM tasks
), attached AS (
    SELECT task_id, count(*) AS evidence
    FROM evidence
    WHERE period = $period
    GROUP BY task_id
), of_period AS (
    SELECT e.task_id, t.seq, t.goal, t.content, t.leaders, e.lead_units, e.status, e.streak,
           e.lagging_units, e.missing_units, coalesce(a.evidence, 0) AS evidence
    FROM judged_tasks e
    JOIN registered t USING (task_id)
    LEFT JOIN attached a USING (task_id)
    WHERE e.period = $period
)
SELECT task_id, seq, goal, content, leaders, lead_units, status, streak, lagging_units,
       missing_units, evidence
FROM of_period
ORDER BY seq;
