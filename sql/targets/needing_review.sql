-- One row: the ids of the year's active tasks whose text changed since their review, in order.
WITH needing_review AS (
    SELECT task_id, year
    FROM tasks_needing_review
)
SELECT coalesce(list(task_id ORDER BY task_id), []) AS needs_review
FROM needing_review
WHERE year = $year;
