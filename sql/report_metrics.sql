-- Each metric's district judgement for the period, in table order.
SELECT e.task_id, e.position, e.label, e.kind, e.bound, e.measure, e.target, e.actual, e.expected,
       e.completion, e.gap, e.source, e.carried, e.status, e.streak
FROM eval_metrics e
JOIN tasks t USING (task_id)
WHERE e.period = $period
ORDER BY t.seq, e.position;
