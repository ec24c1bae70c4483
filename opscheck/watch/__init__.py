"""The post-deploy watch (issue 11): a selection of checks repeated for a window, round by round."""
