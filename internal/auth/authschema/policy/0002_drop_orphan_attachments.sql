-- Attachments to users, groups and robots that do not exist. Before this
-- version deleting an account left its attachments behind, and an account
-- re-created under the same name inherited them; attaching to a missing
-- account is refused from now on, and deleting one removes them.
DELETE FROM auth_policy_targets WHERE
	(target_type = 'user'  AND target_name NOT IN (SELECT name FROM auth_users)) OR
	(target_type = 'group' AND target_name NOT IN (SELECT name FROM auth_groups)) OR
	(target_type = 'robot' AND target_name NOT IN (SELECT name FROM auth_robots));
UPDATE auth_policy_version SET version = version + 1 WHERE id = 1;
