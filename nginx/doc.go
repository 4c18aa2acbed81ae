// Package nginx holds the platform's edge: the nginx configuration templates
// in templates/ (Jinja2, rendered by the ansible "nginx" role in
// ../ansible/roles/nginx) and the tests that render them through that role
// and run the real nginx in front of stub and real upstreams.
//
// The package has no Go API; it exists for its tests.
package nginx
