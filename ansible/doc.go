// Package ansible holds the platform's deployment: inventories, the site and
// rolling-deploy playbooks and their roles. Its tests check the playbooks with
// ansible-playbook --syntax-check and ansible-lint, run them against this
// machine into a throwaway root directory, and check what they wrote.
//
// The package has no Go API; it exists for its tests.
package ansible
