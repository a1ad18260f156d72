-- The year's tasks as the matcher knows them (active and removed), in id order.
WITH registered AS (
    SELECT task_id, year, content, goal, leaders, lead_units, responsible_units, active, deadline
    FROM tasks
), of_year AS (
    SELECT *
    FROM registered
    WHERE year = $year
)
SELECT task_id, content, goal, leaders, lead_units, responsible_units, active, deadline
FROM of_year
ORDER BY task_id;
