1;
2;
3;
  function (
