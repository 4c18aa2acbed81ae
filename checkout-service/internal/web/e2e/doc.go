// Package e2e holds the real-browser end-to-end test of the secure checkout
// pages: headless Chromium, driven with chromedp, against the sandbox Magento,
// the checkout domain on real MySQL and Redis with two sandbox gateways, and
// the pages of package web. It has no code outside its tests.
package e2e
