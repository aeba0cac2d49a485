['\u{1F600}'.length, [...'\u{1F600}'].length, 'é'.normalize('NFD').length, '\ud800', 'a\0b']
