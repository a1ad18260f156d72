-- One dashboard account by name ($name): its role, the leader it is, its password hash, and
-- whether it may log in.
WITH accounts AS (
    SELECT name, role, leader, password_hash, disabled
    FROM users
)
SELECT role, leader, password_hash, disabled
FROM accounts
WHERE name = $name;
