-- A task's deadline, from the table's 完成时限 / 时间节点 column (NULL where the table has none or
-- the cell names no date); kept in each version of the task as well.
ALTER TABLE tasks ADD COLUMN deadline DATE;
ALTER TABLE task_history ADD COLUMN deadline DATE;
