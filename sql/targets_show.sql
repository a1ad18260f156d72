-- The active register of a year with each task's metrics, in table order.
SELECT
    t.task_id AS id,
    t.goal,
    t.content,
    t.leaders,
    t.lead_units,
    t.responsible_units,
    coalesce(
        (SELECT list({'label': m.label, 'value': m.value, 'unit': m.unit, 'kind': m.kind,
                      'bound': m.bound, 'confirmed': m.confirmed} ORDER BY m.position)
         FROM metrics m WHERE m.task_id = t.task_id),
        []
    ) AS metrics,
    t.related_pending,
    t.reviewed_hash IS NOT NULL AND t.reviewed_hash <> t.content_hash AS needs_review
FROM tasks t
WHERE t.year = $year AND t.active
ORDER BY t.seq;
