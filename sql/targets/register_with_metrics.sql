-- The year's active tasks in table order, with their metrics and whether they need review.
WITH active_tasks AS (
    SELECT task_id, year, seq, goal, content, leaders, lead_units, responsible_units,
           related_pending, deadline
    FROM tasks
    WHERE active
), register_metrics AS (
    SELECT task_id, position, label, value, measure, kind, bound, confirmed
    FROM metrics
), needing_review AS (
    SELECT task_id
    FROM tasks_needing_review
), year_tasks AS (
    SELECT *
    FROM active_tasks
    WHERE year = $year
), task_metrics AS (
    SELECT
        task_id,
        list({'label': label, 'value': value, 'measure': measure, 'kind': kind, 'bound': bound,
              'confirmed': confirmed} ORDER BY position) AS metrics
    FROM register_metrics
    SEMI JOIN year_tasks USING (task_id)
    GROUP BY task_id
)
SELECT
    t.task_id AS id,
    t.goal,
    t.content,
    t.leaders,
    t.lead_units,
    t.responsible_units,
    coalesce(m.metrics, []) AS metrics,
    t.related_pending,
    r.task_id IS NOT NULL AS needs_review,
    t.deadline
FROM year_tasks t
LEFT JOIN task_metrics m USING (task_id)
LEFT JOIN needing_review r USING (task_id)
ORDER BY t.seq;
