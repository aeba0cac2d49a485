eval('eval("1 + 1")') + Function('return 2')()
