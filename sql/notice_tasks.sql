-- Lagging and critical tasks of the period with their leaders, lead units and streak.
SELECT e.task_id, t.seq, t.goal, t.content, t.leaders, e.lead_units, e.status, e.streak,
       e.lagging_units, e.missing_units
FROM eval_tasks e
JOIN tasks t USING (task_id)
WHERE e.period = $period AND e.status IN ('lagging', 'critical')
ORDER BY t.seq;
