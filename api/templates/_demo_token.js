  var $ = function (id) { return document.getElementById(id); };
  var params = new URLSearchParams(location.search);

  // The token travels in the URL fragment, which browsers never send to the
  // server; take it, then drop it from the address bar and history.
  var fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (fragment.get('token')) {
    sessionStorage.setItem(TOKEN_KEY, fragment.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }

  function showError(message) {
    $('error').textContent = message || '';
    $('error').hidden = !message;
  }
