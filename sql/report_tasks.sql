-- Each task's judgement for the period with what the briefing shows of it.
SELECT e.task_id, t.seq, t.goal, t.content, t.leaders, e.lead_units, e.status, e.streak,
       e.lagging_units, e.missing_units
FROM eval_tasks e
JOIN tasks t USING (task_id)
WHERE e.period = $period
ORDER BY t.seq;
