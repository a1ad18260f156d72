-- One row: the counts of the year's active register, for the import summary.
WITH active_tasks AS (
    SELECT task_id, year, related_pending
    FROM tasks
    WHERE active
), register_metrics AS (
    SELECT task_id, confirmed
    FROM metrics
), needing_review AS (
    SELECT task_id, year
    FROM tasks_needing_review
), year_tasks AS (
    SELECT task_id, related_pending
    FROM active_tasks
    WHERE year = $year
), year_metrics AS (
    SELECT m.task_id, m.confirmed
    FROM register_metrics m
    JOIN year_tasks USING (task_id)
), task_counts AS (
    SELECT
        count(*) AS tasks,
        count(*) FILTER (WHERE task_id NOT IN (SELECT task_id FROM year_metrics)) AS milestones,
        coalesce(list(task_id ORDER BY task_id) FILTER (WHERE related_pending), []) AS related_pending
    FROM year_tasks
), metric_counts AS (
    SELECT count(*) AS metrics, count(*) FILTER (WHERE confirmed) AS confirmed
    FROM year_metrics
), review_list AS (
    SELECT coalesce(list(task_id ORDER BY task_id), []) AS needs_review
    FROM needing_review
    WHERE year = $year
)
SELECT t.tasks, m.metrics, m.confirmed, t.milestones, t.related_pending, r.needs_review
FROM task_counts t, metric_counts m, review_list r;
