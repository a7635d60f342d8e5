// The login form works without this file; it only says when the last key was wrong.
if (new URLSearchParams(location.search).has("failed")) {
  document.getElementById("failed").hidden = false;
}
