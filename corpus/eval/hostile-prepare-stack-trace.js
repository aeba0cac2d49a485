{ Error.prepareStackTrace = () => { for (;;) {} }; try { null.x } finally { delete Error.prepareStackTrace } }
