// ICU allocations outside the heap, in a loop.
const kept = []; for (;;) kept.push(new Intl.DateTimeFormat('en-US', {timeZone: 'UTC', dateStyle: 'full'}))
